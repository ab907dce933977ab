-- Movies per genre: the dashboard's horizontal bar chart (QuickSight's main visual).
-- Genres are lower-cased so that "Drama" and "drama" count as one genre.
SELECT
    lower(genre) AS genre,
    count(*) AS movies
FROM movies
WHERE genre IS NOT NULL
GROUP BY lower(genre)
ORDER BY movies DESC, genre
