#!/bin/sh
# A Hetzner Cloud Firewall for the load balancers (hcloud CLI; HCLOUD_TOKEN set): HTTP(S) from
# anywhere, ipwarden's UDP heartbeats (12345) and ICMP between the load balancers only, SSH from
# ADMIN_NET. Applied to every server labelled role=lb, present and future.
# Traffic on a private network is not filtered by Cloud Firewalls: with `network: private`
# discovery (ipwarden.yaml) the heartbeat rule below matters only for the public addresses.
set -eu
FW=${FW:-lb}
ADMIN_NET=${ADMIN_NET:-203.0.113.0/24}
LB_NET=${LB_NET:-198.51.100.0/24}      # the load balancers' public addresses (or their /32s)
hcloud firewall create --name "$FW"
hcloud firewall add-rule "$FW" --direction in --protocol tcp --port 80 --source-ips 0.0.0.0/0 --source-ips ::/0
hcloud firewall add-rule "$FW" --direction in --protocol tcp --port 443 --source-ips 0.0.0.0/0 --source-ips ::/0
hcloud firewall add-rule "$FW" --direction in --protocol udp --port 12345 --source-ips "$LB_NET" --description "ipwarden heartbeats"
# ICMP port unreachable: a peer whose daemon died (host up) is noticed at once
hcloud firewall add-rule "$FW" --direction in --protocol icmp --source-ips "$LB_NET"
hcloud firewall add-rule "$FW" --direction in --protocol tcp --port 22 --source-ips "$ADMIN_NET"
hcloud firewall apply-to-resource "$FW" --type label_selector --label-selector role=lb
