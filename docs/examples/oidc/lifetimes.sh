# Token lifetimes (Admin only). Shorter access tokens make apps that refresh notice a
# locked or signed-out person sooner, at the cost of more refreshes.
usher settings set oidc.access_token_seconds 900
usher settings set oidc.id_token_seconds 3600
usher settings set oidc.refresh_token_days 30
