"""Background retraining: a Celery app on Redis, the retrain task, and the queue the web app puts jobs on."""

# Task names, shared by the web app (which only sends tasks) and the worker (which runs them).
RETRAIN_TASK = "{{ cookiecutter.app_name }}.retrain"
SCHEDULED_RETRAIN_TASK = "{{ cookiecutter.app_name }}.scheduled_retrain"
MONITOR_TASK = "{{ cookiecutter.app_name }}.monitor"
DRAIN_PREDICTIONS_TASK = "{{ cookiecutter.app_name }}.drain_predictions"
