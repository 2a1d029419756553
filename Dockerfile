# planguard's image: one Python process per role (enactor, cleanup, planner), non-root.
# The install steps are the ones tests/integration/test_image.py runs in a fresh venv.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11.11-slim-bookworm
COPY --from=build /install /usr/local
USER 65532:65532
ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["planguard"]
CMD ["--help"]
