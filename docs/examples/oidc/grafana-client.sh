usher oidc client add grafana --name Grafana --group 4 \
  --redirect-uri https://grafana.example.com/login/generic_oauth
# Save the printed secret where grafana.ini reads it, readable by Grafana only:
#   /etc/grafana/usher-client-secret
