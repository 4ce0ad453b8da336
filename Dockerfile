# Container image for ferry, built by goreleaser (dockers_v2 in .goreleaser.yaml)
# from the release binaries: the build context holds linux/amd64/ferry and
# linux/arm64/ferry, and buildx picks the one for $TARGETPLATFORM.
#
# The binary is static (CGO_ENABLED=0); distroless/static has CA certificates
# and time zone data, and runs as the unprivileged user 65532.

# The state directory must belong to that user, or ferry cannot write its
# journals and checkpoints without a volume. distroless has no shell to run
# mkdir or chown, and WORKDIR creates directories owned by root, so an empty
# directory is made here and copied below with --chown (no RUN: nothing is
# executed for the target platform, so no emulation is needed).
FROM scratch AS state
WORKDIR /state/ferry

FROM gcr.io/distroless/static-debian12:nonroot

ARG TARGETPLATFORM
COPY $TARGETPLATFORM/ferry /usr/bin/ferry
# Copies the directory "ferry" itself into /var/lib: it is created with this owner.
COPY --from=state --chown=65532:65532 /state/ /var/lib/

# Data port of serve, and its admin listener (/metrics, /healthz, /readyz).
# The admin listener binds 127.0.0.1 unless serve.admin_listen says otherwise.
EXPOSE 8080 9091

WORKDIR /var/lib/ferry
ENV FERRY_STATE_DIR=/var/lib/ferry

USER 65532:65532
ENTRYPOINT ["/usr/bin/ferry"]
CMD ["--help"]
