#!/bin/sh
# Security group "load-balancer" for ipwarden with the exo CLI (https://github.com/exoscale/cli).
# Run once, with exo configured for your account. Instances join the group at creation
# (exo compute instance create ... --security-group load-balancer).
set -eu
SG=${SG:-load-balancer}

exo compute security-group create "$SG" --description "HAProxy load balancers (ipwarden)"
# ipwarden heartbeats between the members (exoip's port)
exo compute security-group rule add "$SG" --flow ingress --protocol udp --port 12345 \
  --security-group "$SG" --description "ipwarden heartbeats"
# ICMP port unreachable (type 3 code 3) between the members: when a node's daemon dies but its host
# is up, the peers learn it from this ICMP answer at once instead of waiting 3 intervals
exo compute security-group rule add "$SG" --flow ingress --protocol icmp --icmp-type 3 --icmp-code 3 \
  --security-group "$SG" --description "ipwarden crash fast path"
# the service behind the Elastic IP
exo compute security-group rule add "$SG" --flow ingress --protocol tcp --port 80 --network 0.0.0.0/0 \
  --description "HTTP"
exo compute security-group rule add "$SG" --flow ingress --protocol tcp --port 443 --network 0.0.0.0/0 \
  --description "HTTPS"
# administration (restrict to your network)
exo compute security-group rule add "$SG" --flow ingress --protocol tcp --port 22 --network 203.0.113.0/24 \
  --description "SSH from the admin network (change me)"
