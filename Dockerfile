# syntax=docker/dockerfile:1
# concejo's image for those with a container engine:
#   docker build -t ghcr.io/concejo-dev/concejo:0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
# `make image` builds the same image with no engine (docs/image.md): both run e2e/image/rootfs.sh on
# the release binary (the binary, exactly the libraries it loads, user 65532) and copy that folder
# into an empty image. `make image-check` fails when this file's user, entrypoint or labels drift from it.

# Debian 12, as the machines `make image` is proven on: the same glibc the binary is linked against.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p concejo --bin concejo \
 && e2e/image/rootfs.sh target/release/concejo /rootfs

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
COPY --from=build /rootfs /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/concejo"]
LABEL org.opencontainers.image.title="concejo" \
      org.opencontainers.image.description="Kubernetes operator that turns each town hall (Municipality) into an isolated tenant" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/concejo-dev/concejo" \
      org.opencontainers.image.licenses="Apache-2.0"
