# SPDX-License-Identifier: Apache-2.0
# leakwatch container image: a multi-stage build.
#   build:   Debian 12 with the same dependencies and the same build script as
#            CI (.ci/run -> scripts/test.sh -> scripts/deps.sh, scripts/build.sh build);
#   runtime: Debian 12 slim with only the shared libraries the binary needs,
#            running as a numeric non-root user.
# No container engine runs on the project's machines, so
# tests/cli/test_deploy_docker.sh checks this file instead: every library
# `ldd` reports for the binary comes from the runtime packages below (or the
# base image), and the build commands are CI's.
#   docker build -t leakwatch/leakwatch:0.1.0 .
#   docker run --rm leakwatch/leakwatch:0.1.0 analyze --help

FROM debian:12 AS build
WORKDIR /src
COPY scripts/deps.sh scripts/deps.sh
RUN scripts/deps.sh
COPY . .
RUN scripts/build.sh build
RUN strip --strip-debug -o /leakwatch build/leakwatch

FROM debian:12-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libcjson1 libyaml-0-2 libssl3 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /leakwatch /usr/local/bin/leakwatch
# Fail the image build if a shared library is missing.
RUN ! ldd /usr/local/bin/leakwatch | grep -q 'not found'
# A numeric user, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# /metrics, /healthz and /readyz (--metrics-bind-address, default :8080).
EXPOSE 8080
# The binary is the entrypoint; the default command runs the controller, and
# any other subcommand (analyze, ...) can be given instead.
ENTRYPOINT ["/usr/local/bin/leakwatch"]
CMD ["controller"]
