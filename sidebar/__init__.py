"""The clinician sidebar: the launched patient's scores, trends and drivers inside the EHR."""
