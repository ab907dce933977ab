-- Movies per genre: the dashboard's horizontal bar chart (QuickSight's main visual).
-- Preprocessing lower-cases genres and joins several with "|" ("action|comedy"):
-- each movie counts once in each of its genres.
SELECT
    genre,
    count(*) AS movies
FROM (
    SELECT unnest(string_split(genre, '|')) AS genre
    FROM movies
    WHERE genre IS NOT NULL
) AS movie_genres
GROUP BY genre
ORDER BY movies DESC, genre
