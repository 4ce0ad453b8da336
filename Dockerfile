# Container image for ferry, built by goreleaser (dockers_v2 in .goreleaser.yaml)
# from the release binaries: the build context holds linux/amd64/ferry and
# linux/arm64/ferry, and buildx picks the one for $TARGETPLATFORM.
#
# The binary is static (CGO_ENABLED=0); distroless/static has CA certificates
# and time zone data, and runs as the unprivileged user 65532.
FROM gcr.io/distroless/static-debian12:nonroot

ARG TARGETPLATFORM
COPY $TARGETPLATFORM/ferry /usr/bin/ferry

# Data port of serve, and its admin listener (/metrics, /healthz, /readyz).
# The admin listener binds 127.0.0.1 unless serve.admin_listen says otherwise.
EXPOSE 8080 9091

WORKDIR /var/lib/ferry
ENV FERRY_STATE_DIR=/var/lib/ferry

USER 65532:65532
ENTRYPOINT ["/usr/bin/ferry"]
CMD ["--help"]
