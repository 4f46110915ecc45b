# kindest/base's layout (the kind module's images/base/Dockerfile) on a Debian root file system made by
# hack/kind/node-image.sh: its packages come from debootstrap, containerd from the Go module proxy, and runc and
# the CNI plugins (host-local, loopback, ptp, portmap) from Debian's packages. Built with no network.
ARG DEBIAN
FROM ${DEBIAN}
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/LICENSES/ /LICENSES/
COPY files/etc/ /etc/
COPY bin/ /usr/local/bin/
RUN chmod 0755 /usr/local/bin/* /kind /kind/bin /kind/bin/* \
 && find /etc/containerd /etc/default /etc/sysctl.d /etc/systemd/system /etc/crictl.yaml -type f -exec chmod 0644 {} + \
 && mkdir -p /opt/cni/bin \
 && for p in host-local loopback ptp portmap; do cp /usr/lib/cni/$p /opt/cni/bin/; done \
 && ln -sf /usr/sbin/runc /usr/local/sbin/runc \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
          /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
          /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests \
 && ctr oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
