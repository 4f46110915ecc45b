"""The admission webhook shell: kopf watches fill the live context, a direct dispatcher answers reviews."""
