"""ORM models of sandbox_ehr.ehr."""
