# planguard's image: one Python process per role (enactor, cleanup, planner, leases),
# non-root, ready for a read-only root filesystem (nothing is written at run time).
# BASE_IMAGE is the public python image by default, by digest (the tag only names it for
# people; the digest is the one public projects pin for that tag, not checked from this
# machine, which reaches no container registry). hack/kind/build-images.sh passes a Debian
# base made here with debootstrap, whose Python comes from Debian, by a tag that is its
# recorded image ID (hack/kind/build-base.sh says why that is its digest).
# A CA bundle for PyPI may be given as the build secret "ca" (used only when present).
ARG BASE_IMAGE=python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5
FROM ${BASE_IMAGE} AS build
RUN command -v python3 >/dev/null || { apt-get update -q \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
         python3 python3-venv && rm -rf /var/lib/apt/lists/*; }
RUN python3 -m venv /opt/planguard
WORKDIR /src
# The locks pin every package to what the tests ran, with its files' hashes (hack/lock.py):
# pip refuses anything unpinned or altered. This layer changes only when a lock does.
COPY requirements-build.lock requirements.lock ./
RUN --mount=type=secret,id=ca \
    if [ -f /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    pip="/opt/planguard/bin/python -m pip install --no-cache-dir --disable-pip-version-check"; \
    $pip --require-hashes -r requirements-build.lock \
    && $pip --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
# planguard itself, offline, built by the locked backend; the backend is then removed:
# nothing in the image runs it.
RUN pip="/opt/planguard/bin/python -m pip --disable-pip-version-check"; \
    $pip install --no-cache-dir --no-index --no-deps --no-build-isolation \
      --check-build-dependencies . \
    && $pip uninstall -q -y setuptools && $pip check \
    && /opt/planguard/bin/python -m compileall -q /opt/planguard/lib >/dev/null

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="planguard" \
      org.opencontainers.image.description="DNS plan automation and node lease management (Kubernetes operator)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/planguard/planguard" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
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
