# A confidential client (an app with a server side): Usher makes the secret and prints it once.
usher oidc client add grafana --name Grafana --group 4 \
  --redirect-uri https://grafana.example.com/login/generic_oauth

# Or choose the secret yourself (at least 32 characters), given on standard input:
(umask 077; openssl rand -base64 48 | tr -d '\n' > portainer-client-secret)
usher oidc client add portainer --name Portainer --group 1 --secret-stdin \
  --redirect-uri https://portainer.example.com/ < portainer-client-secret

# A public client (runs in the browser or on a phone, keeps no secret): PKCE S256 is required,
# and it gets a refresh token only when it asks for the offline_access scope.
usher oidc client add photo-frame --public --group 4 \
  --redirect-uri http://127.0.0.1:8765/callback

usher oidc client list
usher oidc client show grafana
usher oidc client secret grafana     # a new secret, printed once; the old one stops working
usher oidc client delete grafana     # the app's tokens stop working at once
usher oidc rotate-key                # a new signing key; the old one stays published until its tokens expire
