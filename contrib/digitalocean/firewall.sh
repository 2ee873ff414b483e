#!/bin/sh
# A DigitalOcean cloud firewall for the load balancers (doctl 1.9x): HTTP(S) from anywhere, SSH,
# and between the droplets tagged $TAG: UDP 12345 (ipwarden heartbeats) and ICMP (a dead daemon on a
# live droplet answers "port unreachable", so peers notice at once instead of after three intervals).
# Outbound: everything (the API at api.digitalocean.com over HTTPS, the metadata service is local).
set -eu
TAG=${TAG:-lb}
doctl compute firewall create --name "ipwarden-$TAG" --tag-names "$TAG" \
  --inbound-rules "protocol:tcp,ports:80,address:0.0.0.0/0,address:::/0 protocol:tcp,ports:443,address:0.0.0.0/0,address:::/0 protocol:tcp,ports:22,address:0.0.0.0/0 protocol:udp,ports:12345,tag:$TAG protocol:icmp,tag:$TAG" \
  --outbound-rules "protocol:tcp,ports:all,address:0.0.0.0/0,address:::/0 protocol:udp,ports:all,address:0.0.0.0/0,address:::/0 protocol:icmp,address:0.0.0.0/0,address:::/0"
