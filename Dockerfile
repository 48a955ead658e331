# phitrace in a container: mitmproxy (mitmweb by default) with the phitrace addon.
# The database and reports live in the /data volume, mitmproxy's CA in its own
# volume so it survives restarts and can be exported. See docs/container.md.

FROM python:3.13-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY addon/ addon/
COPY signatures/ signatures/
COPY policies/ policies/
COPY reports/ reports/
# The newest mitmproxy this Python allows (12.x on 3.13). Naming the major version
# makes a silent fall-back to an older mitmproxy fail the build instead.
ARG MITMPROXY_REQUIREMENT="mitmproxy>=12"
RUN python -m venv /opt/phitrace \
 && /opt/phitrace/bin/pip install . "$MITMPROXY_REQUIREMENT" \
 && /opt/phitrace/bin/phitrace --version \
 && /opt/phitrace/bin/phitrace signatures list >/dev/null

FROM python:3.13-slim
ENV PATH=/opt/phitrace/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/phitrace /opt/phitrace
COPY docker/entrypoint.sh /usr/local/bin/phitrace-container
COPY docker/healthcheck.py /usr/local/bin/phitrace-healthcheck
# /data holds health data: readable by the phitrace user only. The CA directory is
# traversable so a read-only mount elsewhere can read the public certificate;
# mitmproxy writes the private key files with mode 0600 itself.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/phitrace \
        --shell /usr/sbin/nologin phitrace \
 && mkdir -p /data /home/phitrace/.mitmproxy \
 && chown phitrace:phitrace /data /home/phitrace/.mitmproxy \
 && chmod 0700 /data \
 && chmod 0755 /home/phitrace/.mitmproxy \
 && chmod 0755 /usr/local/bin/phitrace-container /usr/local/bin/phitrace-healthcheck
USER 10001:10001
WORKDIR /data
VOLUME ["/data", "/home/phitrace/.mitmproxy"]
EXPOSE 8080 8081
HEALTHCHECK --interval=5s --timeout=5s --start-period=60s --retries=3 \
    CMD ["phitrace-healthcheck"]
ENTRYPOINT ["phitrace-container"]
CMD ["proxy"]
