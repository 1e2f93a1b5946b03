# Tempo for the compose stack: the released image plus one static busybox binary as `wget`, for
# the healthcheck. Tempo 2.9.3 and later are distroless (no shell, no /busybox) and gain a
# `-health` flag only in Tempo 3; 2.9.3-2.9.5 fix CVEs, so staying on 2.9.2 is not an option.
# Tags: grafana/tempo 2.9.5 in Tempo's release notes (docs/sources/tempo/release-notes/version-2/v2-9.md,
# "2.9.5", security fixes); busybox 1.37.0 is the version those notes suggest pinning for debugging.
FROM busybox:1.37.0-musl AS busybox

FROM grafana/tempo:2.9.5
# A multi-call binary runs the applet named by its file name; the musl build is static.
COPY --from=busybox /bin/busybox /busybox/wget
