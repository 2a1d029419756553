# kind's node base image (images/base/Dockerfile of sigs.k8s.io/kind, same files, same
# layout) built FROM a local Debian base and Debian's own container runtime packages
# instead of binaries cloned from GitHub: containerd 1.6, runc 1.1 and the CNI plugins
# from bookworm; crictl is built from its Go module by build-node-image.sh. Its context is
# assembled by build-node-image.sh: kind's images/base/files as files/, crictl as bin/.
ARG BASE_IMAGE=planguard/debian:bookworm
FROM ${BASE_IMAGE} AS build
COPY files/usr/local/bin/ /usr/local/bin/
RUN chmod 0755 /usr/local/bin/* \
    && DEBIAN_FRONTEND=noninteractive clean-install \
      systemd \
      conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz fuse-overlayfs \
      bash ca-certificates curl jq procps \
      containerd runc containernetworking-plugins \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* \
    && rm -f /etc/systemd/system/*.wants/* \
    && rm -f /lib/systemd/system/local-fs.target.wants/* \
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
    && rm -f /lib/systemd/system/basic.target.wants/* \
    && rm -f /lib/systemd/system/containerd.service \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf "$(which systemd)" /sbin/init
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY bin/crictl /usr/local/bin/crictl
# Where kind's base puts them: containerd in /usr/local/bin, the CNI plugins in /opt/cni/bin.
RUN chmod 0755 /kind/bin /kind/bin/* /usr/local/bin/crictl \
    && for b in containerd containerd-shim-runc-v2 ctr; do ln -sf "/usr/bin/$b" "/usr/local/bin/$b"; done \
    && mkdir -p /opt/cni/bin \
    && for p in host-local loopback ptp portmap bridge; do ln -sf "/usr/lib/cni/$p" "/opt/cni/bin/$p"; done \
    && ctr oci spec \
        | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
        | jq 'del(.process.rlimits)' \
        > /etc/containerd/cri-base.json \
    && containerd --version && runc --version && crictl --version \
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests

# One layer, as kind squashes its base.
FROM scratch
COPY --from=build / /
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
