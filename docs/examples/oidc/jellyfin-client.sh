# The SSO plugin's callback is /sso/OID/redirect/<provider name>; the name here is "usher".
usher oidc client add jellyfin --name Jellyfin --group 4 \
  --redirect-uri https://jellyfin.example.com/sso/OID/redirect/usher
