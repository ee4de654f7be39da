FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY spm_stream ./spm_stream
COPY agents ./agents
COPY notifications ./notifications
RUN pip install --no-cache-dir . && useradd --system spm && mkdir /data && chown spm /data
USER spm
ENV SPM_DATA_DIR=/data SPM_WEB_HOST=0.0.0.0
EXPOSE 6066
ENTRYPOINT ["spm-stream"]
CMD ["worker"]
