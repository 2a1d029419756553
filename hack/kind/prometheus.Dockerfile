# Prometheus from Debian's prometheus package, for the kind path where no registry can be
# reached (users with one get prom/prometheus). Scrapes planguard's pods in the cluster and
# evaluates the chart's alert rules (hack/kind/monitoring-up.sh).
ARG BASE_IMAGE=planguard/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends prometheus && rm -rf /var/lib/apt/lists/*
USER 65534:65534
ENTRYPOINT ["/usr/bin/prometheus"]
