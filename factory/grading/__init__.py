"""Judging: the eval-script contract, one run's verdict, the run driver, fail-to-pass validation,
the failure cause, the classification and patch safety. Imports only core, store, mining and docker.
"""
