#!/bin/bash
# planguard's stand-in for kindnetd (whose source the Go module proxy does not serve): the
# same job kind gives it in a cluster of one docker network. Every few seconds it reads the
# Nodes, writes this node's CNI config (ptp + host-local over the node's podCIDR, portmap),
# routes every other node's podCIDR via that node's InternalIP, and masquerades pod traffic
# leaving the pod network. Runs as kind's kindnet DaemonSet (hostNetwork, HOST_IP and
# POD_SUBNET from the manifest kind templates, the node's kubelet.conf mounted).
set -u
sa=/var/run/secrets/kubernetes.io/serviceaccount
# The API server as this node's kubelet reaches it, not through the Service address: until
# kube-proxy has programmed the node, 10.96.0.1 would follow the default route off the node.
api=$(sed -n 's/^ *server: *//p' /etc/kubernetes/kubelet.conf 2>/dev/null | head -1)
if [ -z "$api" ]; then echo "no server in /etc/kubernetes/kubelet.conf" >&2; exit 1; fi
conf=/etc/cni/net.d/10-kindnet.conflist
interval=${KINDNET_INTERVAL:-5}
cni_config() {
  printf '{"cniVersion":"0.3.1","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false,"ipam":{"type":"host-local","dataDir":"/run/cni-ipam-state","routes":[{"dst":"0.0.0.0/0"}],"ranges":[[{"subnet":"%s"}]]},"mtu":1500},{"type":"portmap","capabilities":{"portMappings":true}}]}\n' "$1"
}
echo "kindnet (planguard stand-in): node $HOST_IP, pod network $POD_SUBNET"
while true; do
  if nodes=$(curl -sf --max-time 10 --cacert "$sa/ca.crt" \
      -H "Authorization: Bearer $(cat "$sa/token")" "$api/api/v1/nodes"); then
    while IFS=$'\t' read -r name cidr ip; do
      [ -n "$cidr" ] && [ -n "$ip" ] || continue
      if [ "$ip" = "$HOST_IP" ]; then
        want=$(cni_config "$cidr")
        if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
          printf '%s\n' "$want" >"$conf.tmp" && mv "$conf.tmp" "$conf"
          echo "wrote $conf for $cidr"
        fi
      elif [ "$(ip route show "$cidr" 2>/dev/null)" != "$cidr via $ip dev eth0" ]; then
        ip route replace "$cidr" via "$ip" && echo "route $cidr via $ip ($name)"
      fi
    done < <(jq -r '.items[] | [.metadata.name, (.spec.podCIDR // ""),
               ([.status.addresses[] | select(.type == "InternalIP") | .address][0] // "")]
             | @tsv' <<<"$nodes")
  else
    echo "cannot list nodes yet; retrying in ${interval}s"
  fi
  iptables -t nat -C POSTROUTING -s "$POD_SUBNET" ! -d "$POD_SUBNET" -j MASQUERADE 2>/dev/null \
    || iptables -t nat -A POSTROUTING -s "$POD_SUBNET" ! -d "$POD_SUBNET" -j MASQUERADE
  sleep "$interval"
done
