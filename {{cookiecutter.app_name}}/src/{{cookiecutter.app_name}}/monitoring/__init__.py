"""Watching the served model: the prediction log, drift and score reports, and the conditions that start a retrain.

prediction_log.py  web processes record predictions; the worker moves them into the `predictions` journal
drift.py           per-column drift of recent inputs against the training rows
reports.py         a monitor report per run (kept in the `monitoring` journal), and what it starts (retrain_when)
worker_metrics.py  the worker's figures (retrains, the newest report) for the web app's /metrics
"""
