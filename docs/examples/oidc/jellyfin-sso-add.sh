# Adds (or replaces) the provider "usher" through the SSO plugin's API, with an API key made in
# Jellyfin under Dashboard -> API Keys. Then restart Jellyfin.
curl -X POST \
  -H 'Authorization: MediaBrowser Token="JELLYFIN-API-KEY"' \
  -H 'Content-Type: application/json' \
  --data @jellyfin-sso.json \
  https://jellyfin.example.com/sso/OID/Add/usher
