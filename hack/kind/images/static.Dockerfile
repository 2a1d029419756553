# A static binary alone in an image (kube-apiserver, kube-controller-manager,
# kube-scheduler, etcd, coredns, pause), like the distroless-static images upstream.
FROM scratch
ARG BIN
COPY ${BIN} /usr/local/bin/${BIN}
ENV PATH=/usr/local/bin
