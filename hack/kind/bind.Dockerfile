# BIND 9 from Debian's bind9 package (dig for the readiness probe), for the kind path where no registry can be reached
# (users with one get internetsystemsconsortium/bind9). named runs in the foreground.
ARG BASE_IMAGE=planguard/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends bind9 bind9-utils bind9-dnsutils && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/usr/sbin/named", "-g"]
