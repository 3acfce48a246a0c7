# Web sign-in, linking an existing account, and the https hop for the phone apps
# (Usher accepts only http(s) redirect URIs, not app.immich:///oauth-callback).
usher oidc client add immich --name Immich --group 4 \
  --redirect-uri https://immich.example.com/auth/login \
  --redirect-uri https://immich.example.com/user-settings \
  --redirect-uri https://immich.example.com/api/oauth/mobile-redirect
