"""Readmission features from the same spec: Diabetes-130 table path and FHIR (encounter-level) path."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from scoring.features.extract import Extraction, current_encounter, encounter_missing
from scoring.features.fhir_index import parse_time
from scoring.features.spec import (
    CONDITION_GROUPS,
    INPATIENT_CLASSES,
    LAB_ABOVE,
    READMISSION_FEATURES,
    READMISSION_HORIZON_DAYS,
    FeatureSpec,
)

DAY = 86400.0
ICD9_SYSTEM = "http://hl7.org/fhir/sid/icd-9-cm"
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
ED_ADMISSION_SOURCE = 7  # IDs_mapping.csv: admission_source_id 7 = Emergency Room
EMERGENCY_ADMISSION_TYPE = 1  # IDs_mapping.csv: admission_type_id 1 = Emergency (FHIR Encounter.priority EM)
# IDs_mapping.csv discharge_disposition_id -> FHIR discharge-disposition code
# (http://terminology.hl7.org/CodeSystem/discharge-disposition); unmapped ids (home health, unknown, ...) -> none.
DISCHARGE_TO_FHIR: dict[int, str] = {
    1: "home",
    2: "hosp",
    3: "snf",
    4: "long",
    5: "other-hcf",
    7: "aadvice",
    22: "rehab",
    23: "long",
    24: "snf",
    27: "other-hcf",
    28: "psy",
    29: "hosp",
    30: "other-hcf",
}


# ------------------------------------------------------------------------------------------------ shared
def icd_group(code: str, system: str) -> str | None:
    """Strack et al. 2014 diagnosis group of an ICD-9-CM or ICD-10-CM code, or None (other)."""
    code = code.strip().upper()
    for group, ranges in CONDITION_GROUPS.items():
        if system == "icd9" and code[:1].isdigit():
            value = float(code)
            if any(float(lo) <= value <= float(hi) for lo, hi in ranges["icd9"]):
                return group
        elif (
            system == "icd10" and code[:1].isalpha() and any(lo[:3] <= code[:3] <= hi[:3] for lo, hi in ranges["icd10"])
        ):
            return group
    return None


def age_band_mid(age_years: float) -> float:
    """Midpoint of the 10-year band (Diabetes-130 reports age as [70-80) etc.)."""
    return math.floor(age_years / 10.0) * 10.0 + 5.0


# ------------------------------------------------------------------------------------------------ table
def _table_feature(f: FeatureSpec, df: pd.DataFrame) -> npt.NDArray[np.float64]:
    agg = f.aggregation
    if agg == "medication" and f.training_column != "diabetesMed":
        names = [n for n in f.codes if n in df.columns]
        return _floats((df[names] != "No").any(axis=1))
    col = df[f.training_column]
    if agg == "age_band":
        return _floats(col.str.extract(r"\[(\d+)-")[0]) + 5.0
    if agg == "male":
        return _floats(col.map({"Male": 1.0, "Female": 0.0}))
    if agg == "admit_source":
        return _floats(pd.to_numeric(col, errors="coerce") == ED_ADMISSION_SOURCE)
    if agg == "admission_type":
        return _floats(pd.to_numeric(col, errors="coerce") == EMERGENCY_ADMISSION_TYPE)
    if agg == "discharge_disposition":
        fhir = pd.to_numeric(col, errors="coerce").map(DISCHARGE_TO_FHIR)
        return _floats(fhir.isin(f.codes))
    if agg == "condition_group":
        group = f.codes[0]
        hits = np.zeros(len(df), dtype=bool)
        for c in ("diag_1", "diag_2", "diag_3"):
            codes = df[c].fillna("").astype(str)
            groups = {code: icd_group(code, "icd9") for code in codes.unique()}
            hits |= codes.map(groups).eq(group).to_numpy()
        return hits.astype(float)
    if agg == "medication":
        return _floats(col == "Yes")
    if agg == "lab_measured":
        return _floats(col != "None")
    if agg == "lab_above":
        above = col.isin([">7", ">8"]) if f.name == "hba1c_above_7" else col.isin([">200", ">300"])
        return np.where(col == "None", np.nan, above.astype(float))
    return _floats(pd.to_numeric(col, errors="coerce"))


def _floats(column: pd.Series) -> npt.NDArray[np.float64]:
    """A pandas column as a float64 array (without pandas-stubs, mypy sees pandas values as Any)."""
    values: npt.NDArray[np.float64] = column.astype(float).to_numpy()
    return values


def with_history(df: pd.DataFrame) -> pd.DataFrame:
    """`df` plus each encounter's history among the same patient's earlier encounters (by encounter_id).

    Needs every encounter of a patient (compute before excluding any), since earlier ones count.
    """
    order = df.sort_values("encounter_id", kind="stable")
    by_patient = order.groupby("patient_nbr", sort=False)
    earlier = by_patient.cumcount().astype(float).reindex(df.index)
    prior_lt30 = by_patient["readmitted"].shift(1).eq("<30").astype(float)
    # Stays on record include at least the prior year's (number_inpatient), in the data set or not.
    on_record = np.maximum(earlier.to_numpy(), pd.to_numeric(df["number_inpatient"]).to_numpy(dtype=float))
    return df.assign(_stays_on_record=on_record, _prior_lt30=prior_lt30.reindex(df.index))


def readmission_table_features(df: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Feature matrix of Diabetes-130 encounters in READMISSION_FEATURES order (all of a patient's encounters
    must be in `df`: history features count the earlier ones)."""
    df = with_history(df)
    return np.column_stack([_table_feature(f, df) for f in READMISSION_FEATURES])


# ------------------------------------------------------------------------------------------------ FHIR
def _refs_encounter(res: Mapping[str, Any], enc_id: str) -> bool:
    ref = (res.get("encounter") or res.get("context") or {}).get("reference", "")
    return isinstance(ref, str) and (
        ref == f"Encounter/{enc_id}" or ref.endswith(f"/{enc_id}") or ref == f"urn:uuid:{enc_id}"
    )


def _res_time(res: Mapping[str, Any]) -> float | None:
    for key in ("effectiveDateTime", "authoredOn", "recordedDate", "onsetDateTime", "performedDateTime", "issued"):
        if res.get(key):
            return parse_time(res[key])
    period = res.get("effectivePeriod") or res.get("performedPeriod") or {}
    return parse_time(period.get("start")) if isinstance(period, dict) else None


def _in_encounter(res: Mapping[str, Any], enc_id: str, start: float, end: float) -> bool:
    if _refs_encounter(res, enc_id):
        t = _res_time(res)
        return t is None or t <= end
    t = _res_time(res)
    return t is not None and start <= t <= end


def _is_lab(res: Mapping[str, Any]) -> bool:
    return any(c.get("code") == "laboratory" for cat in res.get("category") or () for c in cat.get("coding") or ())


def _concept_text(concept: Mapping[str, Any] | None) -> str:
    if not concept:
        return ""
    parts = [concept.get("text") or ""] + [c.get("display") or "" for c in concept.get("coding") or ()]
    return " ".join(parts).lower()


def _lab_values(stay: Sequence[Mapping[str, Any]], codes: tuple[str, ...]) -> list[float]:
    out = []
    for r in stay:
        if r.get("resourceType") != "Observation":
            continue
        if any(c.get("code") in codes for c in (r.get("code") or {}).get("coding") or ()):
            value = (r.get("valueQuantity") or {}).get("value")
            if isinstance(value, int | float):
                out.append(float(value))
    return out


def _part_of(encounter: Mapping[str, Any]) -> str:
    """The `partOf` reference (relative or absolute, without a version), or ""."""
    ref = (encounter.get("partOf") or {}).get("reference", "")
    return ref.split("/_history/")[0] if isinstance(ref, str) else ""


class _Context:
    def __init__(self, resources: Sequence[Mapping[str, Any]], as_of: datetime, encounter_id: str | None) -> None:
        self.at = as_of.timestamp()
        self.patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
        self.encounter = current_encounter(resources, self.at, encounter_id)
        period = (self.encounter or {}).get("period") or {}
        self.start = parse_time(period.get("start")) or self.at
        self.ended = parse_time(period.get("end"))  # None while the stay is in progress
        self.end = min(self.ended or self.at, self.at)
        enc_id = str((self.encounter or {}).get("id", ""))
        self.encounters = [r for r in resources if r.get("resourceType") == "Encounter"]
        self.stay = [
            r
            for r in resources
            if r.get("resourceType") in ("Observation", "Condition", "Procedure", "MedicationRequest")
            and self.encounter is not None
            and _in_encounter(r, enc_id, self.start, self.end)
        ]

    def earlier_stays(self, classes: tuple[str, ...], lookback_hours: float) -> list[Mapping[str, Any]]:
        """Encounters of `classes` that began in the `lookback_hours` before this one and ended before it began
        (not cancelled or in error). One still open when this began, or ending exactly then (a transfer), is
        the same hospitalisation, as is this encounter's `partOf` parent or child (e.g. hospital and ICU)."""
        since = self.start - lookback_hours * 3600.0
        return [
            e
            for e in self.encounters
            if (e.get("class") or {}).get("code") in classes
            and not self._same_stay(e)
            and e.get("status") not in ("cancelled", "entered-in-error")
            and (t := parse_time((e.get("period") or {}).get("start"))) is not None
            and since <= t < self.start
            and (end := parse_time((e.get("period") or {}).get("end"))) is not None
            and end < self.start
        ]

    def _same_stay(self, other: Mapping[str, Any]) -> bool:
        current = self.encounter or {}
        if not current or other.get("id") == current.get("id"):
            return True
        return _part_of(current).endswith(f"Encounter/{other.get('id')}") or _part_of(other).endswith(
            f"Encounter/{current.get('id')}"
        )

    def of(self, kind: str) -> list[Mapping[str, Any]]:
        return [r for r in self.stay if r.get("resourceType") == kind]


# Encounter.class (v3 ActCode) of encounters the model does not apply to, in words.
CLASS_WORDS = {
    "AMB": "ambulatory",
    "VR": "virtual",
    "HH": "home health",
    "EMER": "emergency",
    "FLD": "field",
    "OBSENC": "observation",
    "PRENC": "pre-admission",
    "SS": "short stay",
}
# Sources whose absence is "not recorded", never zero: Diabetes-130 has no encounter without a diagnosis
# (number_diagnoses 1-16) or without a medication (num_medications >= 1; diabetesMed "No" always comes with
# other medications listed), so zero diagnoses or "no diabetes medication" with nothing on record is a
# value the model never saw in training (checked on diabetic_data.csv: min number_diagnoses 1, min num_medications 1).
UNRECORDED_MEANS_MISSING = {
    "Condition": "No diagnoses (Conditions) recorded for this stay: treated as not recorded, not as none.",
    "MedicationRequest": "No medication orders recorded for this stay: treated as not recorded, not as none.",
}


def _fhir_feature(f: FeatureSpec, ctx: _Context) -> float:
    if f.source in UNRECORDED_MEANS_MISSING and not ctx.of(f.source):
        return math.nan
    agg = f.aggregation
    if agg == "age_band":
        born = parse_time((ctx.patient or {}).get("birthDate"))
        return math.nan if born is None else age_band_mid((ctx.start - born) / (365.25 * DAY))
    if agg == "male":
        gender = (ctx.patient or {}).get("gender")
        return 1.0 if gender == "male" else 0.0 if gender == "female" else math.nan
    if agg in ("prior_encounters_365d", "prior_encounters_all"):  # the look-back is the feature's
        return float(len(ctx.earlier_stays(f.codes, f.lookback_hours)))
    if agg == "readmission_index":
        ends = (parse_time((e.get("period") or {}).get("end")) for e in ctx.earlier_stays(f.codes, f.lookback_hours))
        return float(
            any(end is not None and ctx.start - READMISSION_HORIZON_DAYS * DAY <= end < ctx.start for end in ends)
        )
    if agg == "encounter_days":
        return float(max(1, math.ceil((ctx.end - ctx.start) / DAY)))
    if agg == "admit_source":
        source = ((ctx.encounter or {}).get("hospitalization") or {}).get("admitSource") or {}
        return float(any(c.get("code") in f.codes for c in source.get("coding") or ()))
    if agg == "admission_type":
        priority = (ctx.encounter or {}).get("priority") or {}
        return float(any(c.get("code") in f.codes for c in priority.get("coding") or ()))
    if agg == "discharge_disposition":
        disposition = ((ctx.encounter or {}).get("hospitalization") or {}).get("dischargeDisposition") or {}
        return float(any(c.get("code") in f.codes for c in disposition.get("coding") or ()))
    if agg == "count_in_encounter":
        items = ctx.of(f.source)
        return float(sum(1 for r in items if _is_lab(r)) if f.source == "Observation" else len(items))
    if agg == "condition_group":
        return float(any(_condition_group(r) == f.codes[0] for r in ctx.of("Condition")))
    if agg == "medication":
        texts = [_concept_text(r.get("medicationCodeableConcept")) for r in ctx.of("MedicationRequest")]
        return float(any(name in text for text in texts for name in f.codes))
    values = _lab_values(ctx.stay, f.codes)
    if agg == "lab_measured":
        return float(bool(values))
    return math.nan if not values else float(max(values) > LAB_ABOVE[f.name])


def _condition_group(res: Mapping[str, Any]) -> str | None:
    for c in (res.get("code") or {}).get("coding") or ():
        system = "icd9" if c.get("system") == ICD9_SYSTEM else "icd10" if c.get("system") in ICD10_SYSTEMS else ""
        if system and c.get("code") and (group := icd_group(str(c["code"]), system)):
            return group
    return None


def extract_readmission(
    resources: Sequence[Mapping[str, Any]], as_of: datetime, encounter_id: str | None = None
) -> Extraction:
    """READMISSION_FEATURES from raw FHIR JSON at as-of (normally the discharge time), for the Encounter the
    EHR named (`encounter_id`) or else the latest acute-care one."""
    ctx = _Context(resources, as_of, encounter_id)
    values = tuple(_fhir_feature(f, ctx) for f in READMISSION_FEATURES)
    missing: tuple[str, ...] = () if ctx.encounter is not None else (encounter_missing(encounter_id),)
    stale = _window_over(ctx)
    if ctx.patient is None:
        missing += ("Patient (age, sex)",)
    basis = tuple(sorted(f"{r['resourceType']}/{r.get('id', '')}" for r in ctx.stay))
    if ctx.encounter is not None:
        basis = (f"Encounter/{ctx.encounter.get('id', '')}", *basis)
    notes = _in_progress_note(ctx) + tuple(
        note for source, note in UNRECORDED_MEANS_MISSING.items() if ctx.encounter is not None and not ctx.of(source)
    )
    return Extraction(
        tuple(f.name for f in READMISSION_FEATURES),
        values,
        {},
        {},
        missing,
        stale,
        basis,
        notes,
        not_applicable=_not_applicable(ctx),
    )


def _not_applicable(ctx: _Context) -> str:
    """Readmission risk is for inpatient stays (INPATIENT_CLASSES); any other encounter is not applicable."""
    if ctx.encounter is None:
        return ""
    klass = ctx.encounter.get("class") or {}
    code = str(klass.get("code") or "") if isinstance(klass, dict) else ""
    if code in INPATIENT_CLASSES:
        return ""
    words = CLASS_WORDS.get(code, f"class {code or 'not recorded'}")
    return f"not applicable: {words} encounter"


def _in_progress_note(ctx: _Context) -> tuple[str, ...]:
    """The model is for discharge; before it, say what the estimate assumes."""
    if ctx.encounter is None or (ctx.ended is not None and ctx.ended <= ctx.at):
        return ()
    return (
        "Stay still in progress: estimated as if discharged now (length of stay so far; no discharge "
        "disposition recorded yet, so neither home nor a care facility).",
    )


def _window_over(ctx: _Context) -> tuple[str, ...]:
    """The stay ended more than the horizon before as-of: its 30-day window has passed, nothing to predict."""
    if ctx.ended is None or ctx.at - ctx.ended <= READMISSION_HORIZON_DAYS * DAY:
        return ()
    day = datetime.fromtimestamp(ctx.ended, tz=UTC).date().isoformat()
    return (f"Hospital encounter (ended {day}; its {READMISSION_HORIZON_DAYS}-day window is over)",)
