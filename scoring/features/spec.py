"""The feature spec: FHIR codes of the PhysioNet 2019 columns, units, and the ordered model features.

Every model input is defined once here; training (`scoring/training/`) and serving
(`scoring/features/extract.py`) both read it. Changing anything that changes a vector bumps
`SPEC_VERSION`, which every exported model records (a mismatch makes the model not ready).

LOINC codes: one code per PhysioNet column, each checked against its loinc.org term page
(e.g. https://loinc.org/1963-8 serum bicarbonate, https://loinc.org/2524-7 lactate in serum/plasma in
mmol/L). Units are UCUM (https://ucum.org/ucum). `ObservationCode.unit` is the unit the PhysioNet
column is recorded in (Reyna et al., Crit Care Med 2020;48:210, Table 1, checked against the
distribution in `physionet2019_stats.json`), so a loader writes the column value unchanged with this
unit; other units are converted by `UNIT_CONVERSIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SPEC_VERSION = "2025.3"  # 2025.2: measurement-count features (hours with a value in the last 6 h and 24 h)
# 2025.3: readmission history features (earlier inpatient stays on record; admission within 30 d of a discharge)

Category = Literal["vital-signs", "laboratory"]


@dataclass(frozen=True, slots=True)
class ObservationCode:
    """One PhysioNet 2019 measured column as a FHIR Observation code."""

    column: str  # PhysioNet 2019 column name, e.g. "HR"
    loinc: str  # primary LOINC code written by loaders
    display: str  # LOINC long common name
    unit: str  # UCUM unit of the PhysioNet values (and of our feature values)
    category: Category  # Observation.category code (http://terminology.hl7.org/CodeSystem/observation-category)
    alternates: tuple[str, ...] = ()  # other LOINC codes accepted when reading


_V: Category = "vital-signs"
_L: Category = "laboratory"

# Order = PhysioNet column order (HR .. Platelets).
# Notes on deliberate choices:
# - O2Sat is pulse oximetry (59408-5). The FHIR R4 vital-signs profile codes oxygen saturation as
#   2708-6 (http://hl7.org/fhir/R4/observation-vitalsigns.html), which LOINC defines as arterial
#   SaO2; extraction therefore reads 2708-6 as O2Sat when the Observation is in category
#   vital-signs (or also carries 59408-5) and as SaO2 otherwise (see extract.py).
# - FiO2 in PhysioNet is a fraction (median 0.5, 99th percentile 1.0): unit "1"; "%" converts.
# - Lactate is listed as mg/dL in the challenge table, but its values (median 1.8, 99th pct 14.2)
#   are mmol/L, the unit of 2524-7; Magnesium (listed mmol/dL) has median 2.0, i.e. mg/dL.
PHYSIONET_OBSERVATIONS: tuple[ObservationCode, ...] = (
    ObservationCode("HR", "8867-4", "Heart rate", "/min", _V),
    ObservationCode(
        "O2Sat", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", _V, ("2710-2", "150456-2")
    ),
    ObservationCode(
        "Temp", "8310-5", "Body temperature", "Cel", _V, ("8331-1", "8332-9", "8328-7", "8333-7", "8329-5")
    ),
    ObservationCode("SBP", "8480-6", "Systolic blood pressure", "mm[Hg]", _V, ("8459-0", "76534-7")),
    ObservationCode("MAP", "8478-0", "Mean blood pressure", "mm[Hg]", _V, ("8491-9", "76536-2")),
    ObservationCode("DBP", "8462-4", "Diastolic blood pressure", "mm[Hg]", _V, ("8454-1", "76535-9")),
    ObservationCode("Resp", "9279-1", "Respiratory rate", "/min", _V),
    ObservationCode("EtCO2", "19889-5", "Carbon dioxide/Gas.total.at end expiration in Exhaled gas", "mm[Hg]", _V),
    ObservationCode(
        "BaseExcess", "1925-7", "Base excess in Arterial blood by calculation", "mmol/L", _L, ("11555-0", "1927-3")
    ),
    ObservationCode(
        "HCO3", "1960-4", "Bicarbonate [Moles/volume] in Arterial blood", "mmol/L", _L, ("1959-6", "1963-8", "14627-4")
    ),
    ObservationCode("FiO2", "3150-0", "Inhaled oxygen concentration", "1", _L, ("19996-8", "19994-3")),
    ObservationCode("pH", "2744-1", "pH of Arterial blood", "[pH]", _L, ("11558-4",)),
    ObservationCode(
        "PaCO2", "2019-8", "Carbon dioxide [Partial pressure] in Arterial blood", "mm[Hg]", _L, ("11557-6",)
    ),
    ObservationCode("SaO2", "2708-6", "Oxygen saturation in Arterial blood", "%", _L, ("2713-6",)),
    ObservationCode(
        "AST",
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        _L,
        ("30239-8",),
    ),
    ObservationCode("BUN", "3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL", _L, ("6299-2",)),
    ObservationCode(
        "Alkalinephos", "6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "U/L", _L
    ),
    ObservationCode(
        "Calcium", "17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL", _L, ("49765-1", "2000-8")
    ),
    ObservationCode("Chloride", "2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L", _L, ("2069-3",)),
    ObservationCode("Creatinine", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", _L, ("38483-4",)),
    ObservationCode("Bilirubin_direct", "1968-7", "Bilirubin.direct [Mass/volume] in Serum or Plasma", "mg/dL", _L),
    ObservationCode(
        "Glucose", "2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", _L, ("2339-0", "41653-7")
    ),
    ObservationCode(
        "Lactate", "2524-7", "Lactate [Moles/volume] in Serum or Plasma", "mmol/L", _L, ("32693-4", "2518-9", "32133-1")
    ),
    ObservationCode("Magnesium", "19123-9", "Magnesium [Mass/volume] in Serum or Plasma", "mg/dL", _L, ("2601-3",)),
    ObservationCode("Phosphate", "2777-1", "Phosphate [Mass/volume] in Serum or Plasma", "mg/dL", _L),
    ObservationCode("Potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", _L, ("6298-4",)),
    ObservationCode(
        "Bilirubin_total", "1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL", _L, ("42719-5",)
    ),
    ObservationCode(
        "TroponinI",
        "10839-9",
        "Troponin I.cardiac [Mass/volume] in Serum or Plasma",
        "ng/mL",
        _L,
        ("42757-5", "89579-7"),
    ),
    ObservationCode("Hct", "4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%", _L, ("20570-8",)),
    ObservationCode("Hgb", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", _L, ("20509-6",)),
    ObservationCode("PTT", "3173-2", "aPTT in Blood by Coagulation assay", "s", _L, ("14979-9",)),
    ObservationCode("WBC", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", _L, ("26464-8",)),
    ObservationCode(
        "Fibrinogen", "3255-7", "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay", "mg/dL", _L
    ),
    ObservationCode(
        "Platelets", "777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", _L, ("26515-7",)
    ),
)

OBSERVATION_BY_COLUMN: dict[str, ObservationCode] = {o.column: o for o in PHYSIONET_OBSERVATIONS}

# Unit conversions into the column unit: (column, UCUM unit) -> (factor, offset); value * factor + offset.
# Factors from molar masses (Ca 40.08, Mg 24.31, P 30.97, urea-N 28.02, glucose 180.16, lactate 90.08,
# creatinine 113.12 g/mol; bilirubin 1 mg/dL = 17.1 umol/L) and SI definitions (1 kPa = 7.50062 mmHg).
UNIT_CONVERSIONS: dict[tuple[str, str], tuple[float, float]] = {
    ("Temp", "[degF]"): (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    ("O2Sat", "1"): (100.0, 0.0),
    ("SaO2", "1"): (100.0, 0.0),
    ("FiO2", "%"): (0.01, 0.0),
    ("PaCO2", "kPa"): (7.50062, 0.0),
    ("EtCO2", "kPa"): (7.50062, 0.0),
    ("BUN", "mmol/L"): (2.802, 0.0),
    ("Calcium", "mmol/L"): (4.008, 0.0),
    ("Creatinine", "umol/L"): (1.0 / 88.42, 0.0),
    ("Bilirubin_direct", "umol/L"): (1.0 / 17.1, 0.0),
    ("Bilirubin_total", "umol/L"): (1.0 / 17.1, 0.0),
    ("Glucose", "mmol/L"): (18.016, 0.0),
    ("Lactate", "mg/dL"): (1.0 / 9.008, 0.0),
    ("Magnesium", "mmol/L"): (2.431, 0.0),
    ("Phosphate", "mmol/L"): (3.097, 0.0),
    ("TroponinI", "ng/L"): (0.001, 0.0),
    ("TroponinI", "ug/L"): (1.0, 0.0),
    ("Hct", "1"): (100.0, 0.0),
    ("Hgb", "g/L"): (0.1, 0.0),
    ("Hgb", "mmol/L"): (1.611, 0.0),
    ("Fibrinogen", "g/L"): (100.0, 0.0),
    ("WBC", "10*9/L"): (1.0, 0.0),
    ("Platelets", "10*9/L"): (1.0, 0.0),
    ("Calcium", "mg/dL"): (1.0, 0.0),
}
# Equivalent spellings seen in real feeds (UCUM annotations in braces are ignored by UCUM itself).
UNIT_ALIASES: dict[str, str] = {
    "{beats}/min": "/min",
    "beats/min": "/min",
    "bpm": "/min",
    "{breaths}/min": "/min",
    "breaths/min": "/min",
    "mmHg": "mm[Hg]",
    "degC": "Cel",
    "C": "Cel",
    "degF": "[degF]",
    "K/uL": "10*3/uL",
    "10^3/uL": "10*3/uL",
    "x10E3/uL": "10*3/uL",
    "10*3/mm3": "10*3/uL",
    "10^9/L": "10*9/L",
    "sec": "s",
    "IU/L": "U/L",
    "U/L": "U/L",
    "mEq/L": "mmol/L",
    "pH": "[pH]",
    "": "",
}


# ---------------------------------------------------------------------------------------------------------
# Model features
# ---------------------------------------------------------------------------------------------------------
# Inputs that describe charting and time rather than the patient's physiology: how long ago and how often a
# value was measured, whether it was measured at all, time since admission. Models use them (they predict), but
# surfaces show them apart, on a "context" line, never as the clinical reason for a score.
CONTEXT_AGGREGATIONS = frozenset({"hours_since", "missing", "count", "encounter_hours"})
Aggregation = Literal[
    "last",
    "min",
    "max",
    "mean",
    "trend",
    "hours_since",
    "missing",
    "count",
    "age_years",
    "male",
    "encounter_hours",
    # readmission (encounter-level) aggregations, see scoring/features/readmission.py
    "age_band",
    "prior_encounters_365d",
    "prior_encounters_all",
    "readmission_index",
    "encounter_days",
    "count_in_encounter",
    "condition_group",
    "medication",
    "lab_measured",
    "lab_above",
    "admit_source",
    "admission_type",
    "discharge_disposition",
]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One model input: where it comes from in FHIR, how it is aggregated, and its training column.

    Time semantics (both paths): an input at time t is usable at as-of T when t <= T. `last` is the latest
    value with T - t <= `lookback_hours`; `min`/`max`/`mean` use values with T - window < t <= T;
    `trend` = last(T) - last(T - window); `hours_since` = T - t of that latest value (within the look-back);
    `missing` = 1.0 when there is no `last` value; `count` = the number of hours k = floor((T - t) / 1 h) with
    at least one value at T - window < t <= T (hourly bins relative to as-of, so a monitor charting every
    5 minutes counts as the hourly PhysioNet table does: there, one row per hour with a value). In the
    PhysioNet hourly table, row h is at time h hours.
    """

    name: str
    label: str
    source: str  # FHIR resource type
    codes: tuple[str, ...]  # LOINC codes (primary first), empty for Patient/Encounter features
    unit: str  # UCUM unit of the feature value
    aggregation: Aggregation
    training_column: str  # PhysioNet 2019 column the feature is computed from
    window_hours: float | None = None
    lookback_hours: float = 24.0
    freshness_hours: float | None = None  # required inputs older than this refuse the score
    required: bool = False

    @property
    def column(self) -> str:
        """The PhysioNet column (the observation kind) this feature reads."""
        return self.training_column


# Vitals are charted at least hourly in the PhysioNet ICUs; carry a value forward for at most 24 h and
# labs (drawn once or twice a day) for at most 72 h. These look-backs bound what prefetch must fetch.
VITAL_LOOKBACK_HOURS = 24.0
LAB_LOOKBACK_HOURS = 72.0
# Required vitals must be at most 12 h old: the RCP NEWS2 report (2017), Chart 3, sets 12-hourly
# observations as the minimum monitoring frequency for any patient in hospital.
VITAL_FRESHNESS_HOURS = 12.0
SEPSIS_REQUIRED = ("HR", "Resp", "SBP", "O2Sat")
WINDOW_VITALS = ("HR", "O2Sat", "Temp", "SBP", "MAP", "Resp")
MISSING_INDICATOR_LABS = ("Lactate", "WBC", "Creatinine", "Platelets", "Bilirubin_total")
# Measurement frequency: how often each vital/lab was charted recently reflects clinical concern (informative
# missingness; Reyna et al., Crit Care Med 2020;48:210, discussion of the top challenge entries, which used
# measurement-count features). Window chosen on held-out set-A patients only (README, Scoring engine).
COUNT_WINDOWS_HOURS: tuple[float, ...] = (6.0, 24.0)
SHORT_LABELS: dict[str, str] = {
    "HR": "Heart rate",
    "O2Sat": "SpO2",
    "Temp": "Temperature",
    "SBP": "Systolic BP",
    "MAP": "Mean arterial BP",
    "DBP": "Diastolic BP",
    "Resp": "Respiratory rate",
    "EtCO2": "End-tidal CO2",
    "BaseExcess": "Base excess",
    "HCO3": "Bicarbonate",
    "FiO2": "FiO2",
    "pH": "Arterial pH",
    "PaCO2": "PaCO2",
    "SaO2": "SaO2 (arterial)",
    "AST": "AST",
    "BUN": "Urea nitrogen",
    "Alkalinephos": "Alkaline phosphatase",
    "Calcium": "Calcium",
    "Chloride": "Chloride",
    "Creatinine": "Creatinine",
    "Bilirubin_direct": "Direct bilirubin",
    "Glucose": "Glucose",
    "Lactate": "Lactate",
    "Magnesium": "Magnesium",
    "Phosphate": "Phosphate",
    "Potassium": "Potassium",
    "Bilirubin_total": "Total bilirubin",
    "TroponinI": "Troponin I",
    "Hct": "Haematocrit",
    "Hgb": "Haemoglobin",
    "PTT": "aPTT",
    "WBC": "White cell count",
    "Fibrinogen": "Fibrinogen",
    "Platelets": "Platelets",
}


def _obs_feature(o: ObservationCode, aggregation: Aggregation, window: float | None = None) -> FeatureSpec:
    lookback = VITAL_LOOKBACK_HOURS if o.category == "vital-signs" else LAB_LOOKBACK_HOURS
    label = SHORT_LABELS[o.column]
    suffix = aggregation if window is None else f"{aggregation}_{int(window)}h"
    unit = {"hours_since": "h", "missing": "1", "count": "h"}.get(aggregation, o.unit)
    if aggregation == "last":
        words = label
    elif aggregation == "hours_since":
        words = f"Time since last {label}"  # keep clinical casing: "FiO2", "Lactate"
    elif aggregation == "missing":
        words = f"{label} not measured"
    elif aggregation == "trend":
        words = f"{label} change over {int(window or 0)} h"
    elif aggregation == "count":
        words = f"Hours with {label} measured, last {int(window or 0)} h"
    else:
        words = f"{label} {aggregation} over {int(window or 0)} h"
    required = aggregation == "last" and o.column in SEPSIS_REQUIRED
    return FeatureSpec(
        name=f"{o.column}_{suffix}",
        label=words,
        source="Observation",
        codes=(o.loinc, *o.alternates),
        unit=unit,
        aggregation=aggregation,
        training_column=o.column,
        window_hours=window,
        lookback_hours=window if aggregation == "count" and window else lookback,
        required=required,
        freshness_hours=VITAL_FRESHNESS_HOURS if required else None,
    )


def _sepsis_features() -> tuple[FeatureSpec, ...]:
    out: list[FeatureSpec] = [
        FeatureSpec("age_years", "Age at admission", "Patient", (), "a", "age_years", "Age"),
        FeatureSpec("male", "Male sex", "Patient", (), "1", "male", "Gender"),
        FeatureSpec("icu_los_hours", "Time since admission", "Encounter", (), "h", "encounter_hours", "ICULOS"),
    ]
    out += [_obs_feature(o, "last") for o in PHYSIONET_OBSERVATIONS]
    out += [_obs_feature(o, "hours_since") for o in PHYSIONET_OBSERVATIONS]
    for column in WINDOW_VITALS:
        o = OBSERVATION_BY_COLUMN[column]
        for window in (6.0, 24.0):
            out += [_obs_feature(o, agg, window) for agg in ("min", "max", "mean")]
        out.append(_obs_feature(o, "trend", 6.0))
    out += [_obs_feature(OBSERVATION_BY_COLUMN[c], "missing") for c in MISSING_INDICATOR_LABS]
    for window in COUNT_WINDOWS_HOURS:
        out += [_obs_feature(o, "count", window) for o in PHYSIONET_OBSERVATIONS]
    return tuple(out)


SEPSIS_FEATURES: tuple[FeatureSpec, ...] = _sepsis_features()
# Longest look-back any sepsis feature needs (trend reaches back one window further).
SEPSIS_LOOKBACK_HOURS = max(
    f.lookback_hours + (f.window_hours or 0 if f.aggregation == "trend" else 0) for f in SEPSIS_FEATURES
)


# ---------------------------------------------------------------------------------------------------------
# Readmission (Diabetes-130 columns; Strack et al., BioMed Res Int 2014;2014:781670)
# ---------------------------------------------------------------------------------------------------------
HBA1C_CODES = ("4548-4", "17856-6", "4549-2")  # Hemoglobin A1c/Hemoglobin.total in Blood (+ HPLC, electrophoresis)
GLUCOSE_CODES = ("2345-7", "2339-0")
# Diagnosis groups of Strack et al. 2014, Table 2 (ICD-9-CM), with the matching ICD-10-CM chapters/blocks.
CONDITION_GROUPS: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "circulatory": {"icd9": (("390", "459.99"), ("785", "785.99")), "icd10": (("I00", "I99.9"),)},
    "respiratory": {"icd9": (("460", "519.99"), ("786", "786.99")), "icd10": (("J00", "J99.9"),)},
    "digestive": {"icd9": (("520", "579.99"), ("787", "787.99")), "icd10": (("K00", "K95.9"),)},
    "diabetes": {"icd9": (("250", "250.99"),), "icd10": (("E08", "E13.9"),)},
    "injury": {"icd9": (("800", "999.99"),), "icd10": (("S00", "T88.9"),)},
    "musculoskeletal": {"icd9": (("710", "739.99"),), "icd10": (("M00", "M99.9"),)},
    "genitourinary": {"icd9": (("580", "629.99"), ("788", "788.99")), "icd10": (("N00", "N99.9"),)},
    "neoplasms": {"icd9": (("140", "239.99"),), "icd10": (("C00", "D49.9"),)},
}
# Diabetes-130 drug columns grouped by class; FHIR MedicationRequests match by drug name in the coding
# display or text (RxNorm names are the generic names used by these columns).
MEDICATION_GROUPS: dict[str, tuple[str, ...]] = {
    "insulin": ("insulin",),
    "metformin": ("metformin",),
    "sulfonylurea": (
        "glipizide",
        "glyburide",
        "glimepiride",
        "chlorpropamide",
        "tolbutamide",
        "acetohexamide",
        "tolazamide",
    ),
    "thiazolidinedione": ("pioglitazone", "rosiglitazone", "troglitazone"),
}
ANY_DIABETES_MEDICATION = tuple(
    sorted(
        {n for names in MEDICATION_GROUPS.values() for n in names}
        | {"repaglinide", "nateglinide", "acarbose", "miglitol", "citoglipton", "examide"}
    )
)


# The readmission outcome: readmitted within 30 days of discharge (Diabetes-130 "<30", Strack et al. 2014).
READMISSION_HORIZON_DAYS = 30
# How far back earlier inpatient stays count: Diabetes-130 spans ten years (1999-2008, Strack et al. 2014), so a
# patient's earlier encounters in the training data are at most ten years before the current one.
ENCOUNTER_HISTORY_HOURS = 10 * 365.25 * 24.0


def _r(
    name: str,
    label: str,
    source: str,
    aggregation: Aggregation,
    column: str,
    codes: tuple[str, ...] = (),
    unit: str = "1",
    lookback_hours: float = 365 * 24.0,
) -> FeatureSpec:
    return FeatureSpec(name, label, source, codes, unit, aggregation, column, lookback_hours=lookback_hours)


# Inpatient stays, the only encounters the readmission model applies to (Diabetes-130 holds hospital admissions
# only, Strack et al. 2014): Encounter.class codes of HL7 v3 ActCode (http://terminology.hl7.org/CodeSystem/v3-ActCode,
# value set v3-ActEncounterCode, R4's extensible binding of Encounter.class) IMP "inpatient encounter" and its
# specialisations ACUTE "inpatient acute" and NONAC "inpatient non-acute".
INPATIENT_CLASSES = ("IMP", "ACUTE", "NONAC")

READMISSION_FEATURES: tuple[FeatureSpec, ...] = (
    _r("age_band_mid", "Age (decade band)", "Patient", "age_band", "age", unit="a"),
    _r("male", "Male sex", "Patient", "male", "gender"),
    _r(
        "prior_inpatient_365d",
        "Inpatient admissions in the prior year",
        "Encounter",
        "prior_encounters_365d",
        "number_inpatient",
        INPATIENT_CLASSES,
    ),
    _r(
        "prior_emergency_365d",
        "Emergency visits in the prior year",
        "Encounter",
        "prior_encounters_365d",
        "number_emergency",
        ("EMER",),
    ),
    _r(
        "prior_outpatient_365d",
        "Outpatient visits in the prior year",
        "Encounter",
        "prior_encounters_365d",
        "number_outpatient",
        ("AMB",),
    ),
    # Utilisation history (HOSPITAL score: Donze J, et al. JAMA Intern Med 2013;173(8):632-638, "number of
    # hospital admissions"; LACE: van Walraven C, et al. CMAJ 2010;182(6):551-557). Training columns are derived
    # from the same patient's earlier Diabetes-130 encounters (ordered by encounter_id): "_stays_on_record" = how
    # many, or number_inpatient if larger (the prior year's stays are on record too); FHIR: inpatient Encounters
    # that began in the ENCOUNTER_HISTORY_HOURS before this one;
    # "_prior_lt30" = the previous one was followed by a readmission within 30 days, i.e. this stay (or one in
    # between) began <= 30 d after that discharge (FHIR: an earlier inpatient stay ended in the 30 d before this
    # one began; a stay ending exactly at this one's start is a transfer, not a readmission).
    _r(
        "prior_inpatient_on_record",
        "Earlier inpatient stays on record",
        "Encounter",
        "prior_encounters_all",
        "_stays_on_record",
        INPATIENT_CLASSES,
        lookback_hours=ENCOUNTER_HISTORY_HOURS,
    ),
    _r(
        "readmission_within_30d",
        "Admitted within 30 days of a previous discharge",
        "Encounter",
        "readmission_index",
        "_prior_lt30",
        INPATIENT_CLASSES,
    ),
    _r("length_of_stay_days", "Length of stay", "Encounter", "encounter_days", "time_in_hospital", unit="d"),
    _r(
        "admitted_from_ed",
        "Admitted from the emergency department",
        "Encounter",
        "admit_source",
        "admission_source_id",
        ("emd",),
    ),
    _r("emergency_admission", "Emergency admission", "Encounter", "admission_type", "admission_type_id", ("EM",)),
    _r(
        "discharged_home",
        "Discharged home",
        "Encounter",
        "discharge_disposition",
        "discharge_disposition_id",
        ("home",),
    ),
    _r(
        "discharged_to_facility",
        "Discharged to another care facility",
        "Encounter",
        "discharge_disposition",
        "discharge_disposition_id",
        ("hosp", "snf", "rehab", "long", "psy", "other-hcf"),
    ),
    _r(
        "left_against_advice",
        "Left against medical advice",
        "Encounter",
        "discharge_disposition",
        "discharge_disposition_id",
        ("aadvice",),
    ),
    _r("n_lab_results", "Lab results this stay", "Observation", "count_in_encounter", "num_lab_procedures"),
    _r("n_procedures", "Procedures this stay", "Procedure", "count_in_encounter", "num_procedures"),
    _r("n_medications", "Medications this stay", "MedicationRequest", "count_in_encounter", "num_medications"),
    _r("n_diagnoses", "Diagnoses this stay", "Condition", "count_in_encounter", "number_diagnoses"),
    *(
        _r(f"dx_{group}", f"Diagnosis group: {group}", "Condition", "condition_group", "diag_1", (group,))
        for group in CONDITION_GROUPS
    ),
    *(
        _r(
            f"med_{group}",
            f"{group.capitalize()} prescribed",
            "MedicationRequest",
            "medication",
            "+".join(names),
            names,
        )
        for group, names in MEDICATION_GROUPS.items()
    ),
    _r(
        "med_any_diabetes",
        "Any diabetes medication",
        "MedicationRequest",
        "medication",
        "diabetesMed",
        ANY_DIABETES_MEDICATION,
    ),
    _r("hba1c_measured", "HbA1c measured this stay", "Observation", "lab_measured", "A1Cresult", HBA1C_CODES),
    _r("hba1c_above_7", "HbA1c above 7 %", "Observation", "lab_above", "A1Cresult", HBA1C_CODES, "%"),
    _r(
        "glucose_measured",
        "Serum glucose measured this stay",
        "Observation",
        "lab_measured",
        "max_glu_serum",
        GLUCOSE_CODES,
    ),
    _r(
        "glucose_above_200",
        "Serum glucose above 200 mg/dL",
        "Observation",
        "lab_above",
        "max_glu_serum",
        GLUCOSE_CODES,
        "mg/dL",
    ),
)
# Thresholds of the Diabetes-130 categorical lab columns (Strack et al. 2014, "Methods": A1C ">7" / ">8" %,
# max_glu_serum ">200" / ">300" mg/dL).
LAB_ABOVE: dict[str, float] = {"hba1c_above_7": 7.0, "glucose_above_200": 200.0}

# Blood-pressure panels carry SBP/DBP/MAP as components (FHIR R4 vital signs 85354-9; older 55284-4):
# prefetch must ask for the panel codes too, since a `code` search does not match components.
BP_PANEL_CODES = ("85354-9", "55284-4")
GCS_TOTAL = "9269-2"  # Glasgow coma score total (qSOFA altered mentation: GCS < 15)
