"""Default SMART scopes come from what the catalogue's models read (Procedure was missing); registrations
still on the old default get the new one, any other (edited) scope list is kept as the admin set it."""
from django.db import migrations, models

import smart_launch.models


OLD_DEFAULT = ("patient/Patient.rs patient/Observation.rs patient/Condition.rs "
               "patient/MedicationRequest.rs patient/Encounter.rs")


def _upgrade(apps, schema_editor):  # type: ignore[no-untyped-def]
    registration = apps.get_model("smart_launch", "EhrRegistration")
    registration.objects.filter(scopes=OLD_DEFAULT).update(scopes=smart_launch.models.default_scopes())


class Migration(migrations.Migration):

    dependencies = [
        ('smart_launch', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='ehrregistration',
            name='scopes',
            field=models.CharField(default=smart_launch.models.default_scopes, help_text='Clinical scopes (SMART v2 form); `launch openid fhirUser` are always added.', max_length=1000),
        ),
        migrations.RunPython(_upgrade, migrations.RunPython.noop),
    ]
