# kcat for independent reads in tests, docker-compose to validate docker/compose.yaml without an engine,
# chromium for the dashboard browser test, python3-venv for schemathesis.
apt_ensure kcat docker-compose chromium python3-venv
