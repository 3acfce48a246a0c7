# Portainer sends its own address as the redirect URI: register it exactly as typed in
# Portainer's "Redirect URL" field, trailing slash included.
usher oidc client add portainer --name Portainer --group 1 \
  --redirect-uri https://portainer.example.com/
