# The secret is made here and given to Usher, so the same file serves oauth2-proxy.
(umask 077; openssl rand -base64 48 | tr -d '\n' > /etc/oauth2-proxy/client-secret)
usher oidc client add oauth2-proxy --name 'Sonarr (oauth2-proxy)' --group 3 --secret-stdin \
  --redirect-uri https://sonarr.example.com/oauth2/callback < /etc/oauth2-proxy/client-secret

# oauth2-proxy's own cookie key: exactly 32 random bytes.
(umask 077; dd if=/dev/urandom bs=32 count=1 of=/etc/oauth2-proxy/cookie-secret)
