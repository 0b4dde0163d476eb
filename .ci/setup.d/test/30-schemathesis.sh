# schemathesis runs the OpenAPI contract test (and openapi-spec-validator checks the document): its own venv,
# rebuilt only when missing or when these pins change (the pins are recorded inside it).
st_pins='schemathesis==4.32.5 openapi-spec-validator==0.9.0'
if [ ! -x .venv-schemathesis/bin/st ] || [ "$(cat .venv-schemathesis/.pins 2>/dev/null)" != "$st_pins" ]; then
  echo "[setup] installing $st_pins into .venv-schemathesis/" >&2
  rm -rf .venv-schemathesis
  python3 -m venv .venv-schemathesis
  # shellcheck disable=SC2086 # the pins are separate words
  .venv-schemathesis/bin/pip install --quiet --disable-pip-version-check $st_pins
  echo "$st_pins" > .venv-schemathesis/.pins
fi
