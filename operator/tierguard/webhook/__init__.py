"""The admission webhook shell (``tierguard run``): tierguard's informers (``informer.py``) fill the live indexes,
tierguard's own HTTPS server hands each review to the admission service, which asks the engine."""
