# syntax=docker/dockerfile:1
# Images of results-api and results-watcher; pick one with --target:
#
#   docker build --target results-api     -t ghcr.io/tekton-results-rs/results-api:0.1.0 .
#   docker build --target results-watcher -t ghcr.io/tekton-results-rs/results-watcher:0.1.0 .
#
# results-api is built with the default features plus `mysql` (PostgreSQL, MySQL/MariaDB
# and the bundled SQLite); the watcher needs no database library. Both run as uid 65532.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-${DEBIAN} AS source
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev default-libmysqlclient-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .

# One build stage per binary: cargo unifies features within one invocation, and the
# watcher must not link the database client libraries.
FROM source AS build-api
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=results-target-api \
    cargo build --release --locked -p results-grpc --features mysql --bin results-api \
 && install -D target/release/results-api /out/results-api

FROM source AS build-watcher
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=results-target-watcher \
    cargo build --release --locked -p results-watcher --bin results-watcher \
 && install -D target/release/results-watcher /out/results-watcher

FROM docker.io/library/debian:${DEBIAN}-slim AS results-watcher
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build-watcher /out/results-watcher /usr/local/bin/results-watcher
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/results-watcher"]

FROM docker.io/library/debian:${DEBIAN}-slim AS results-api
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libpq5 libmariadb3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build-api /out/results-api /usr/local/bin/results-api
# The working directory, where the default SQLite file (results.db) goes; in Kubernetes
# the SQLite variant mounts its volume here.
RUN install -d -o 65532 -g 65532 /data
WORKDIR /data
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/results-api"]
CMD ["serve"]
