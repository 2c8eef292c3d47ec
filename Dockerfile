# cdcflow's container image: the static binary, CA certificates and nothing
# else. Nothing is pulled from an image registry: `make image` assembles the
# build context (scripts/image-context.sh) from the host and builds FROM
# scratch. The image has no shell, no /tmp (mount an emptyDir; the root
# filesystem is meant to be read-only) and no time-zone database (the binary
# embeds one: time/tzdata).
FROM scratch
COPY cdcflow /cdcflow
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/cdcflow"]
CMD ["help"]
