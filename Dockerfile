# planguard's image: one Python process per role (enactor, cleanup, planner, leases),
# non-root, ready for a read-only root filesystem (nothing is written at run time).
# BASE_IMAGE is the public python image by default; hack/kind/build-images.sh passes a
# Debian base made here with debootstrap (no registry), whose Python comes from Debian.
# A CA bundle for PyPI may be given as the build secret "ca" (used only when present).
ARG BASE_IMAGE=python:3.11.11-slim-bookworm
FROM ${BASE_IMAGE} AS build
RUN command -v python3 >/dev/null || { apt-get update -q \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
         python3 python3-venv && rm -rf /var/lib/apt/lists/*; }
RUN python3 -m venv /opt/planguard
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY operator ./operator
# constraints.txt pins every run-time package to what the tests ran (hack/lock.py).
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/planguard/bin/pip install --no-cache-dir --disable-pip-version-check \
      -c constraints.txt . \
    && /opt/planguard/bin/python -m compileall -q /opt/planguard/lib >/dev/null

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="planguard" \
      org.opencontainers.image.description="DNS plan automation and node lease management (Kubernetes operator)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/planguard/planguard"
RUN command -v python3 >/dev/null || { apt-get update -q \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
         python3 && rm -rf /var/lib/apt/lists/*; }
COPY --from=build /opt/planguard /opt/planguard
# A named user for uid 65532: kopf asks for its own user name (getpass.getuser()), which
# fails for a uid with no passwd entry.
RUN echo 'planguard:x:65532:65532:planguard:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'planguard:x:65532:' >> /etc/group
ENV PATH=/opt/planguard/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
ENTRYPOINT ["planguard"]
CMD ["--help"]
