# syntax=docker/dockerfile:1
#
# One image holding every Purse binary (purse-wallets, purse-topups, purse-payments, purse-saga,
# purse-projector, pursed, the `purse` CLI, purse-bench); docker-compose.yml chooses the binary
# per service.
#
#   docker build -t purse:local .
#
# Needs BuildKit (the default builder of current Docker) for the cache mounts below.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build ------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder

# rdkafka builds librdkafka from source (its ./configure, make and a C compiler); protoc comes
# from a vendored crate, so nothing else is needed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential make pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The whole workspace (see .dockerignore): every member must be present for --workspace, and
# deploy/scylla holds the CQL migrations that purse-store-scylla embeds at compile time.
COPY . .

# Exactly CI's build (scripts/test: cargo build --workspace --bins --locked), in release. The
# cache mounts keep the registry and target/ between builds; binaries are copied out in the same
# step because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --workspace --bins --locked --release \
    && mkdir -p /out \
    && find target/release -maxdepth 1 -type f -perm -u+x -exec cp {} /out/ \; \
    && ls -l /out

# ---- run --------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}

# CA certificates only (TLS to an OTLP endpoint or a managed cluster); no compiler, no shell
# tools beyond the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 purse \
    && useradd --system --uid 10001 --gid purse --home-dir /var/lib/purse \
        --shell /usr/sbin/nologin purse \
    && mkdir -p /var/lib/purse/data /var/lib/purse/secrets \
    && chown -R purse:purse /var/lib/purse \
    && chmod 0700 /var/lib/purse/secrets

COPY --from=builder /out/ /usr/local/bin/

# Named volumes mounted on these paths start with this ownership, so the services can write
# them without running as root.
USER purse:purse
WORKDIR /var/lib/purse
ENV PURSE_DATA_DIR=/var/lib/purse/data \
    PURSE_LISTEN=0.0.0.0:50051
EXPOSE 50051

CMD ["purse-wallets"]
