# The MLflow tracking server that every environment shares (k8s/mlflow.yml): model versions, the environments'
# aliases and history, and the artifacts, kept in a bucket. Locked (requirements-tracking-server.txt) on the MLflow
# version of the app's own lock: the server and the app's client move together.
# It carries the app's package too, without its dependencies: the server's sign-in rule is the app's (tracking_server/).
# docker build -f docker/mlflow.Dockerfile -t {{ cookiecutter.container_registry }}/mlflow-server:3.17.2 .
FROM {{ cookiecutter.python_version | base_image }}

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY requirements-tracking-server.txt /opt/app/
RUN pip install --no-deps --require-hashes --requirement /opt/app/requirements-tracking-server.txt
COPY pyproject.toml /opt/app/
COPY src /opt/app/src
RUN pip install --no-deps --no-build-isolation /opt/app \
    && useradd --create-home --uid 10001 mlflow

USER 10001
EXPOSE 5000
ENTRYPOINT ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
