"""The external data sets Stratify trains on and loads into its sandbox: where they are, where they come from,
how they are fetched, converted and checked.

Standard library only, so `python3 -m datasources` can run before the virtualenv exists (the scripts fetch the
data first and fail within seconds when it cannot be had); `manage.py fetch_datasets` is the same thing.
"""
