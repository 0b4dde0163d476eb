# Toolchain and dev headers to build librdkafka's Node binding from source (and the uWS glibc shim).
apt_ensure build-essential python3 pkg-config libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev libcurl4-openssl-dev
