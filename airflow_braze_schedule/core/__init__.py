"""The pure core: Braze's rules with no Airflow import.

Everything here can be used (and tested) without Airflow: the schedule object and its time rules
(:mod:`.schedule`), the request rules of the three schedule kinds (:mod:`.payload`), the endpoint table
(:mod:`.endpoints`), the handle passed between tasks (:mod:`.handle`), rate-limit headers
(:mod:`.ratelimit`), the retry policy (:mod:`.retry`) and the error types (:mod:`.errors`).
"""
