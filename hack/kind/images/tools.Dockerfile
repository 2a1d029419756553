# Debian with the node networking tools: kube-proxy (iptables, conntrack) and the kindnet
# stand-in (iproute2, iptables, curl, jq). iptables is chosen per node by iptables-wrapper.
ARG BASE_IMAGE=planguard/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends iptables conntrack ipset iproute2 kmod curl jq ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY iptables-wrapper /usr/sbin/iptables-wrapper
RUN for cmd in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do \
      ln -sf /usr/sbin/iptables-wrapper "/usr/sbin/$cmd"; done
ARG BIN
COPY ${BIN} /usr/local/bin/${BIN}
