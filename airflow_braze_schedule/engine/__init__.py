"""The engine: keyed steps and reconcile plans carried out through small ports, with no Airflow import.

Layer 2 of the provider (see the README's development section): above the pure core
(:mod:`airflow_braze_schedule.core`), below the hook and the operators. Everything here works through the
ports of :mod:`.ports` (a registry store, a send function, a clock, a logger), which the operators fill in
from a task's context and tests fill in with plain objects and the fake Braze
(:mod:`airflow_braze_schedule.testing`). ``tests/engine`` checks that importing this package imports no
``airflow`` module.

* :mod:`.keyed_steps`: one key's change, each request preceded by its intent and followed by its result;
* :mod:`.recorder`: registry writes batched per wave of requests (the crash rule is described there);
* :mod:`.reconcile`: a scope's plan carried out concurrently through the recorder.
"""
