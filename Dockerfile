# syntax=docker/dockerfile:1
# One image per function, from this one file:
#   docker build --build-arg CMD=score     -t sentistream-score .
#   docker build --build-arg CMD=index     -t sentistream-index .
#   docker build --build-arg CMD=dashboard -t sentistream-dashboard .
#   docker build --build-arg CMD=watch     -t sentistream-watch .
# The result is one static binary on distroless/static, running as the nonroot user (65532),
# with no shell and no package manager. tests/deploy_image_test.go lints this file and builds the same
# binaries with the same flags (CGO_ENABLED=0, -trimpath, -ldflags "-s -w") to prove they are static.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
# CMD names the binary under ./cmd: score, index, dashboard or watch.
ARG CMD=score
# Set by BuildKit from --platform; GOOS/GOARCH default to the builder's when empty.
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o /out/function ./cmd/${CMD}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/function /function
USER 65532:65532
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/function"]
