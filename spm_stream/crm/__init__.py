"""CRM ingestion: each CRM's webhook authentication and payload mapping to canonical events.

Pure: ``spm_stream.crm.signatures`` checks a request, the per-CRM modules map a
verified body with the ``crm:`` mapping of SPM_CONFIG (``spm_stream.crm.mapping``).
The worker's HTTP shell (``agents/webhooks.py``) produces the results to Kafka.
"""
