-- Each movie with a genre class, as the tutorial's ETL job classified them, but correct whatever
-- the input's casing: genres are compared lower-cased and trimmed, so "Action", "ACTION" and
-- " action" land in the same class. A movie with several genres takes the class of the first
-- matching rule, in the order below.
SELECT
    movie_id,
    title,
    year,
    genre,
    CASE
        WHEN lower(trim(genre)) LIKE '%action%' OR lower(trim(genre)) LIKE '%adventure%' THEN 'action & adventure'
        WHEN lower(trim(genre)) LIKE '%horror%' OR lower(trim(genre)) LIKE '%thriller%' THEN 'horror & thriller'
        WHEN lower(trim(genre)) LIKE '%crime%' THEN 'crime'
        WHEN lower(trim(genre)) LIKE '%comedy%' THEN 'comedy'
        WHEN lower(trim(genre)) LIKE '%drama%' OR lower(trim(genre)) LIKE '%romance%' THEN 'drama & romance'
        WHEN lower(trim(genre)) LIKE '%children%' OR lower(trim(genre)) LIKE '%animation%' THEN 'family'
        WHEN genre IS NULL THEN 'unknown'
        ELSE 'other'
    END AS genre_class
FROM movies
ORDER BY movie_id
